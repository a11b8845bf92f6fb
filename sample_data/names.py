"""Chinese names for the synthetic sample district (样例辖区): places and people.

Place names are invented in the style of Panjin's (an oil-field city on the Liao River delta:
石油, 华油, 苇海, 稻香 …); only 科技社区 and 锦祥社区 are taken from the source district. Pinyin is
given for the English switch of the UI.
"""
from __future__ import annotations

DISTRICT = ("211103", "兴隆台区", "Xinglongtai District")

# (name, name_en, agricultural, [(community stem, pinyin)], [(village stem, pinyin)])
# 78 communities (社区) and 14 villages (村) in 8 subdistricts (街道); 兴海 and 兴盛 are the two
# agricultural ones (农业办), mostly villages.
SUBDISTRICTS: list[tuple[str, str, bool, list[tuple[str, str]], list[tuple[str, str]]]] = [
    ("兴隆街道", "Xinglong Subdistrict", False, [
        ("鑫海", "Xinhai"), ("泰山", "Taishan"), ("华油", "Huayou"), ("石油", "Shiyou"),
        ("油建", "Youjian"), ("幸福", "Xingfu"), ("和平", "Heping"), ("建设", "Jianshe"),
        ("团结", "Tuanjie"), ("文化", "Wenhua"), ("明珠", "Mingzhu"), ("兴油", "Xingyou"),
        ("工人", "Gongren"),
    ], []),
    ("振兴街道", "Zhenxing Subdistrict", False, [
        ("振华", "Zhenhua"), ("中兴", "Zhongxing"), ("东风", "Dongfeng"), ("向阳", "Xiangyang"),
        ("阳光", "Yangguang"), ("花园", "Huayuan"), ("长征", "Changzheng"), ("光明", "Guangming"),
        ("胜利", "Shengli"), ("新华", "Xinhua"), ("铁路", "Tielu"), ("钻采", "Zuancai"),
        ("井下", "Jingxia"),
    ], []),
    ("渤海街道", "Bohai Subdistrict", False, [
        ("湖滨", "Hubin"), ("湖畔", "Hupan"), ("金海", "Jinhai"), ("银河", "Yinhe"),
        ("翠湖", "Cuihu"), ("碧水", "Bishui"), ("悦海", "Yuehai"), ("红海", "Honghai"),
        ("苇海", "Weihai"), ("滨河", "Binhe"), ("月牙湾", "Yueyawan"), ("水岸", "Shui'an"),
    ], []),
    ("友谊街道", "Youyi Subdistrict", False, [
        ("友爱", "You'ai"), ("祥和", "Xianghe"), ("康乐", "Kangle"), ("安居", "Anju"),
        ("乐园", "Leyuan"), ("怡景", "Yijing"), ("平安", "Ping'an"), ("双兴", "Shuangxing"),
        ("广厦", "Guangsha"), ("鸿福", "Hongfu"), ("嘉园", "Jiayuan"), ("富民", "Fumin"),
    ], []),
    ("创新街道", "Chuangxin Subdistrict", False, [
        ("科技", "Keji"), ("锦祥", "Jinxiang"), ("学府", "Xuefu"), ("育才", "Yucai"),
        ("博学", "Boxue"), ("园丁", "Yuanding"), ("兴华", "Xinghua"), ("龙腾", "Longteng"),
        ("凤凰", "Fenghuang"), ("锦绣", "Jinxiu"), ("盛世", "Shengshi"), ("宏伟", "Hongwei"),
    ], []),
    ("新工街道", "Xingong Subdistrict", False, [
        ("新城", "Xincheng"), ("惠宾", "Huibin"), ("石化", "Shihua"), ("油城", "Youcheng"),
        ("辽河", "Liaohe"), ("双台", "Shuangtai"), ("丰泽", "Fengze"), ("润泽", "Runze"),
        ("林荫", "Linyin"), ("御景", "Yujing"), ("雅居", "Yaju"), ("荣城", "Rongcheng"),
    ], []),
    ("兴海街道", "Xinghai Subdistrict", True, [
        ("曙光", "Shuguang"), ("欢喜岭", "Huanxiling"),
    ], [
        ("东郭", "Dongguo"), ("坨子", "Tuozi"), ("苇塘", "Weitang"), ("南岗", "Nangang"),
        ("北窑", "Beiyao"), ("大堡", "Dabao"), ("于岗", "Yugang"),
    ]),
    ("兴盛街道", "Xingsheng Subdistrict", True, [
        ("红旗", "Hongqi"), ("稻香", "Daoxiang"),
    ], [
        ("荣兴", "Rongxing"), ("田家", "Tianjia"), ("杨家", "Yangjia"), ("高家", "Gaojia"),
        ("小堡", "Xiaobao"), ("新生", "Xinsheng"), ("甜水", "Tianshui"),
    ]),
]

# Common surnames of Liaoning, most frequent first, and characters for given names.
SURNAMES = (
    "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英建华文华玉兰红梅志强海燕春梅丽娟晓东"
    "国庆宏伟凤英淑珍淑兰桂芝玉珍德明晓丽晓燕俊杰雪梅丽华建军建国立新振华海波永刚春雨宇航子涵"
    "浩然欣怡思远佳琪博文一鸣雨萱梓轩"
)

# Places inside a community or village, for case descriptions and addresses.
URBAN_PLACES = (
    "小区南门", "小区北门", "3号楼东侧", "7号楼楼下", "12号楼单元门前", "菜市场北口", "幼儿园门前",
    "公交站旁", "十字路口西北角", "商业街中段", "文化广场", "停车场入口", "超市后身", "学校东侧",
    "卫生服务站旁", "沿街门市前", "健身广场", "小区内主干道", "地下车库出口", "社区服务中心门前",
)
RURAL_PLACES = (
    "村委会门前", "村东头水渠边", "稻田路口", "养殖小区旁", "村西主路", "苇塘边", "村卫生室旁",
    "村文化广场", "机耕路口", "排灌站旁", "村南桥头", "晒场附近",
)
